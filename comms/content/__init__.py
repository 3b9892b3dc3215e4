"""Post text: sandboxed jinja2 rendering, Danish formats, lint and UTM tagging (pure)."""
