"""A person's own safety and privacy controls over HTTP: blocks, mutes, data export.

The rules live in the identity layer (`users.blocks`, `users.exports`, `users.policy`) and in
`flows/`; this package only has the routes and the export job.
"""
