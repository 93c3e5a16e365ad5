"""The process's logging: one format for ours, uvicorn's and vLLM's (its engine processes too), noise out.

`serve` calls configure() before anything else is imported. vLLM configures its loggers in every engine
process from VLLM_LOGGING_CONFIG_PATH, so the same configuration is written to a file and named there:
one timestamp format and one filter everywhere. The filter (Quiet) keeps what an operator needs while a
model loads (weights, KV cache, warm-up, ready) and drops what is noise on every start: vLLM's
configuration dump and informational chatter, warnings known to be harmless (each other warning once),
and the access lines of /health polls. At --log-level debug everything passes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import logging.config
import os
import re
import tempfile
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"

# vLLM's informational lines worth a line while a model loads; the rest of its INFO is debug detail.
PROGRESS = re.compile(
    r"Starting to load model|Loading weights took|Model loading took"
    r"|init engine .* took|Capturing CUDA graphs|Graph capturing finished|Downloading"
)
# Warnings every start on some box prints, that ask nothing of the operator (or that we act on already:
# the generation_config sampling defaults are applied and reported per request).
HARMLESS = re.compile(
    r"Triton is (not )?installed|Triton not installed|requires Triton|libtcmalloc is not found"
    r"|libiomp is not found|Reset SSM cache type|Inductor compilation was disabled"
    r"|sampling parameters have been overridden by the model's `generation_config.json`"
    r"|Compiling model again due to a load failure|NUMA binding|`torch.distributed.reduce_op` is deprecated"
    r"|generation flags are not valid|force killing remaining process"
)
# uvicorn's lifespan chatter: "startup complete" a minute before the model is ready misleads (our own
# lines say when it is).
CHATTER = frozenset(
    {
        "Waiting for application startup.",
        "Application startup complete.",
        "Waiting for application shutdown.",
        "Application shutdown complete.",
    }
)
POLLED = ("/health", "/metrics")  # a load balancer's and Prometheus' paths: one line each per few seconds


# The request a record was made for (its x-request-id), set by the HTTP layer in each request's task
# (server/http/request_id.py); None outside a request (start, shutdown, the engine's processes).
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


class Stamp(logging.Filter):
    """Puts the request id on every record: `request` (" [id]", or nothing) for the text format,
    `request_id` for JSON."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = REQUEST_ID.get()
        record.request = f" [{found}]" if found else ""
        record.request_id = found
        return True


class Quiet(logging.Filter):
    """The filter on the one handler (see the module's docstring)."""

    def __init__(self, level: str = "INFO") -> None:
        super().__init__()
        self.verbose = logging.getLevelName(level.upper()) == logging.DEBUG
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        name = record.name
        if name == "uvicorn.access":
            args = record.args
            return not (isinstance(args, tuple) and len(args) == 5 and str(args[2]).startswith(POLLED))
        if name == "uvicorn.error":
            # A second Ctrl-C forces the exit: uvicorn cancels the app's lifespan, and starlette reports
            # the cancellation as a failure, with its traceback. It is the exit that was asked for.
            text = str(record.msg)
            if text.startswith("Traceback") and text.rstrip().endswith("CancelledError"):
                return False
            return record.msg not in CHATTER
        if not (name.startswith(("vllm", "transformers", "torch")) or name == "py.warnings"):
            return True
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage()
        if record.levelno < logging.WARNING:
            return bool(PROGRESS.search(message))
        if HARMLESS.search(message):
            return False
        if name == "py.warnings":
            # "file.py:12: UserWarning: text\n  the source line": once per place and text, on one line.
            message = record.msg = message.split("\n", 1)[0]
            record.args = ()
        key = _LINE_NUMBER.sub(":", message)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


_LINE_NUMBER = re.compile(r":\d+:")


def config(level: str, form: LogFormat) -> dict[str, Any]:
    """The logging configuration, as logging.config.dictConfig (and vLLM's file) takes it."""
    formatter: dict[str, Any] = (
        {"()": "pythonjsonlogger.json.JsonFormatter", "format": JSON_FIELDS, "datefmt": DATE_FORMAT}
        if form == "json"
        else {"format": TEXT_FORMAT, "datefmt": DATE_FORMAT}
    )
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "filters": {
            "quiet": {"()": f"{__name__}.Quiet", "level": upper},
            "stamp": {"()": f"{__name__}.Stamp"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["quiet", "stamp"],
            }
        },
        # vLLM's loggers pass their records up to the root's one handler (its default gives them their own).
        "loggers": {
            "vllm": {"level": upper, "handlers": [], "propagate": True},
            "uvicorn": {"level": upper, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": upper, "handlers": [], "propagate": True},
        },
        "root": {"level": upper, "handlers": ["stderr"]},
    }


def configure(level: str, form: LogFormat, environ: Any = os.environ) -> None:
    """Configure this process, and the engine processes vLLM will start (through the environment)."""
    settings = config(level, form)
    logging.config.dictConfig(settings)
    logging.captureWarnings(True)  # Python's warnings become records, and pass the same filter
    # Named by its content: every start with the same settings shares one file, not one file a start.
    text = json.dumps(settings, sort_keys=True)
    path = (
        Path(tempfile.gettempdir())
        / f"glm-serve-logging-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    )
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}")
        partial.write_text(text)
        partial.replace(path)  # atomic: a server starting beside this one never reads half of it
    environ["VLLM_CONFIGURE_LOGGING"] = "1"
    environ["VLLM_LOGGING_CONFIG_PATH"] = str(path)
    if level.lower() != "debug":
        # Read at import by the engine processes, which log before vLLM's configuration applies: their
        # library warnings, transformers' chatter and torch's C++ warnings would bypass the filter.
        environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
        environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
