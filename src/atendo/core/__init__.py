"""The domain: one folder per context (models, service functions). No web, no transports."""
