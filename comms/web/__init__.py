"""The team's workspace in the browser (`comms serve`): sign-in, the queue, posts, calendar, report.

A Starlette app served by uvicorn. Pages are server-rendered Danish Jinja2 templates that work
without JavaScript, under a strict Content-Security-Policy (no inline script or style). Every page
calls the same domain functions as the CLI (comms.queue.transitions, comms.accounts,
comms.report.figures) and asks
comms.access.decide on the server before it shows or changes anything.

Modules: app (routes, middleware, error pages), security (Host allow-list, same-origin check,
headers), context (sign-in and CSRF per request), auth (/login, /logout), and one module per page.
"""

from comms.web.app import create_app

__all__ = ["create_app"]
