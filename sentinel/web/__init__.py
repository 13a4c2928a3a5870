"""Server-rendered pages (Jinja), one blueprint per area."""
