"""fs-plugins-models: faceswap's model architectures (plugins/train/model/), from shared blocks.

``blocks`` holds the building blocks every architecture uses; one module per architecture holds
its options class and ``build(config, context)``; ``plugin`` registers them with fs.
"""
