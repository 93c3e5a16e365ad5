"""The server's exception tree; each boundary translates foreign errors into these, and renders them.

ServerError                      500  something broke on our side
├── InvalidRequest               400  the request is malformed or asks for something unsupported
│   └── ContextTooLong           400  prompt plus max_tokens exceed the model's context
├── PayloadTooLarge              413  the request body is over --max-body-mb (decoded, when compressed)
├── UnsupportedEncoding          415  a Content-Encoding this server does not decode
├── AuthenticationFailed         401  missing or wrong API key
├── NotFound                     404  the request names something this server does not have
│   └── ModelNotFound            404  … a model this server does not serve
├── RateLimited                  429  too many requests (ours, or the upstream's)
├── NotServed                    501  an endpoint this deployment cannot answer (hosted-only, say)
├── BackendUnavailable           503  the engine is loading, dead, or the upstream unreachable
└── UpstreamError                502  the upstream answered with an error we pass on

`retry_after` (seconds) travels as a Retry-After header: ours on 429/503, the hosted API's passed on.
`retried` marks an error this server already retried (the hosted backend's own retries): the client is
told not to retry it again, so that its SDK's retries do not multiply ours.
"""

from __future__ import annotations


class ServerError(Exception):
    """Base of every error the server reports to a client."""

    status = 500
    type = "server_error"
    code: str | None = None
    retry_after: float | None = None
    retried = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after


def internal_error() -> ServerError:
    """What a client is told of a failure of our own: the details are in the server's log only."""
    return ServerError("internal error while generating; see the server log")


class InvalidRequest(ServerError):
    """The request is malformed, out of range, or asks for something this server cannot do."""

    status = 400
    type = "invalid_request_error"


class ContextTooLong(InvalidRequest):
    """The prompt (plus the requested completion) does not fit the model's context window."""

    code = "context_length_exceeded"


class PayloadTooLarge(ServerError):
    """The request body is larger than this server accepts."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedEncoding(ServerError):
    """The request body is compressed in an encoding this server does not decode."""

    status = 415
    type = "invalid_request_error"
    code = "unsupported_content_encoding"


class AuthenticationFailed(ServerError):
    """No API key, or the wrong one."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(ServerError):
    """The request names something this server does not have (a stored response, a model)."""

    status = 404
    type = "not_found_error"


class ModelNotFound(NotFound):
    """The request names a model this server does not serve."""

    code = "model_not_found"


class RateLimited(ServerError):
    """Too many requests right now; the client should retry later."""

    status = 429
    type = "rate_limit_error"


class BackendUnavailable(ServerError):
    """The backend cannot serve: still loading, its engine died, or its upstream is unreachable."""

    status = 503
    type = "service_unavailable"


class NotServed(ServerError):
    """An endpoint this deployment cannot answer: no open GLM weights serve it and no hosted key is set."""

    status = 501
    type = "not_implemented"


class UpstreamError(ServerError):
    """An upstream API answered with an error that is passed on to the client."""

    status = 502
    type = "upstream_error"

    def __init__(
        self, message: str, *, status: int = 502, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
        self.status = status
