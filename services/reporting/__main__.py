"""python -m services.reporting"""

from services.common.runtime import serve
from services.reporting.settings import ReportingSettings

if __name__ == "__main__":
    serve("services.reporting.bootstrap:create_app", ReportingSettings())
