"""python -m services.scoring"""

from services.common.runtime import serve
from services.scoring.settings import ScoringSettings

if __name__ == "__main__":
    serve("services.scoring.bootstrap:create_app", ScoringSettings())
