"""Dataset readers: Human3.6M and the synthetic renders."""
