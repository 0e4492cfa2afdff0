"""The explorer: a web page and HTTP API to build patients, treat them and run small trials.

``immunotwin serve`` starts it (:func:`serve`); :func:`create_app` builds the FastAPI app
for a :class:`ServerConfig` (used by the tests and by any ASGI server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ConfigError, ServerConfig, load_config

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ConfigError", "ServerConfig", "create_app", "load_config", "serve"]


def create_app(config: ServerConfig) -> FastAPI:
    from .app import create_app as _create

    return _create(config)


def serve(config: ServerConfig, *, log_level: str = "info", **uvicorn_options: Any) -> None:
    """Run the explorer until interrupted (uvicorn, one process).

    Raises:
        ConfigError: the data directory cannot be used (unwritable, or held by another server).
    """
    import uvicorn

    from .store import CatalogueError

    try:
        app = create_app(config)
    except (CatalogueError, OSError) as exc:
        raise ConfigError(f"--data-dir: {exc}") from None
    print(f"immunotwin explorer on http://{config.host}:{config.port}/ (runs kept in {config.data_dir}); "
          "research and education only", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level, **uvicorn_options)
