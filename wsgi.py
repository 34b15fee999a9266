"""The app's entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from service import create_app
from service.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One line naming the setting, for whoever started the server or the CLI.
    raise SystemExit(f"configuration error: {exc}") from None
