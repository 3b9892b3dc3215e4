"""News feeds into drafts: each `[feeds.NAME]` (RSS 2.0 or Atom) is polled with a conditional
GET, and each new entry becomes one-off posts exactly once, as a person composes them."""
