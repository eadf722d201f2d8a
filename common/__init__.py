"""Small helpers shared by every layer; nothing here imports an app."""
