"""Dataset readers: Human3.6M, the synthetic renders and crops of annotated photos."""
