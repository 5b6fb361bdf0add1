"""Reports, the moderation queue and the audit log of moderation and admin actions."""
