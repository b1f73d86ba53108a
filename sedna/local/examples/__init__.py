"""Runnable examples: their declaration (``spec``), pure condition checks (``conditions``), the runner."""
