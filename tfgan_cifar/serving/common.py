"""What every route shares: the bad-request exception (an HTTP status and a one-line reason for the client),
the size limits of a request, and the lock that serialises model calls."""
import threading

MAX_BODY = 1 << 20  # bytes of a request body
MAX_N = 256  # images per request
MODEL_CALL = threading.Lock()  # one model call at a time: bounded memory whatever the number of clients


class BadRequest(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status
