"""Networks shared by the nodes and the training commands."""
