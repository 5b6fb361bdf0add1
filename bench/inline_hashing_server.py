"""The PEAL server with password hashing moved ONTO the event loop: the bench's control group.

`login_vs_health.py --inline-hashing` runs this instead of `peal serve`, to show what the
worker-thread hashing of `PasswordHashing` saves: here every argon2 hash stalls every request.
"""

from __future__ import annotations

import sys

import uvicorn

from peal.core.security import PasswordHashing


async def _hash_inline(self: PasswordHashing, password: str) -> str:
    return self._hasher.hash(password)


async def _verify_inline(self: PasswordHashing, password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        return False
    return self._verify(password_hash, password)


def main() -> None:
    PasswordHashing.hash = _hash_inline  # type: ignore[method-assign]
    PasswordHashing.verify = _verify_inline  # type: ignore[method-assign]
    uvicorn.run(
        "peal.main:create_app",
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
    )


if __name__ == "__main__":
    main()
