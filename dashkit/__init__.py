"""The dashboard kit: filters, figures and page rendering; it imports no app."""
