"""Goals domain: a user's private goals and their milestones."""
