"""Applications of the multimodal pipeline: classification, retrieval, translation, assistant."""
