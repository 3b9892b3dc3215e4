"""Figures from stored samples, compared and rendered as text, HTML, DOCX, charts and calendars."""
