"""Side-by-side gateway benchmark: Switchyard, LiteLLM and Portkey in front of one fast mock upstream."""
