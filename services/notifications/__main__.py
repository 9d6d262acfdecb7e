"""python -m services.notifications"""

from services.common.runtime import serve
from services.notifications.settings import NotificationsSettings

if __name__ == "__main__":
    serve("services.notifications.bootstrap:create_app", NotificationsSettings())
