"""The knowledge base: Markdown articles kept by admins, rendered safely and searched in Russian."""
