"""Model page (placeholder until the full page lands)."""

from ui import sidebar

ctx = sidebar.render()
