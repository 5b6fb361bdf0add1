"""Payments: the provider interface (development, Stripe), the Stripe webhook and the aliases."""
