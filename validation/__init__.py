"""Response validation and quality scores."""
