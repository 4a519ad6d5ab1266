"""xfv's Python tools: fetch and convert real models and photos, export gradient graphs, make fixtures."""
