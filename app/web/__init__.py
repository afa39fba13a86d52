"""Server-rendered pages (Jinja2): the form, results, catalog and GPU pages."""
