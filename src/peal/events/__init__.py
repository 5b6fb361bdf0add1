"""Events domain: workshops, webinars and meet-ups, and who registered for them."""
