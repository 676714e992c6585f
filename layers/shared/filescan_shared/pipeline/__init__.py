"""The plain logic behind each Lambda handler: no event parsing, no AWS wiring, clients passed in."""
