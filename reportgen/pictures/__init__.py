"""Pictures in and out, numpy and Pillow only: decoding an input folder's images, and the shared
array-to-picture helpers (scaling, colour maps, overlays, PNG / GIF encoding) every technique uses."""
