"""Use cases that span domains, each a short sequence of calls to the domains' services in the
caller's session: the order of the steps is visible in one place (ARCHITECTURE.md)."""
