"""The edges: HTTP (api.py, pages) and SMTP, translating between the wire and the domain."""
