"""Architecture design spaces: AnyNetX genomes, their complexity, sampling, and timm models."""
