"""Search domain: one global search over people, videos, funding requests and stories."""
