"""Located objects: what the model is told about coordinates, model coordinates → pixels, pixels → 3D points."""
