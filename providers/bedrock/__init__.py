"""AWS Bedrock: Converse / ConverseStream for chat, Titan InvokeModel for embeddings."""

from providers.bedrock.provider import BedrockProvider

__all__ = ["BedrockProvider"]
