"""Kafka helpers for the multi-edge pipelines (``pip install 'sedna[kafka]'``); values use a safe codec."""

from sedna.datasources.kafka.client import Client
from sedna.datasources.kafka.consumer import Consumer
from sedna.datasources.kafka.kafka_manager import KafkaConsumerThread, KafkaProducer
from sedna.datasources.kafka.producer import Producer

__all__ = ["Client", "Consumer", "KafkaConsumerThread", "KafkaProducer", "Producer"]
