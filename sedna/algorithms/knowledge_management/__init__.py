"""Knowledge management: publishing to the knowledge base (cloud), deploying it (edge), the index document
and task update decisions; registers ``CloudKnowledgeManagement``, ``EdgeKnowledgeManagement``,
``UpdateStrategyDefault`` and ``UpdateStrategyByFinetune`` under ``ClassType.KM``."""

from sedna.algorithms.knowledge_management.cloud_knowledge_management import CloudKnowledgeManagement
from sedna.algorithms.knowledge_management.edge_knowledge_management import EdgeKnowledgeManagement
from sedna.algorithms.knowledge_management.task_update_decision import (
                                                                        UpdateStrategyByFinetune,
                                                                        UpdateStrategyDefault,
)

__all__ = ["CloudKnowledgeManagement", "EdgeKnowledgeManagement", "UpdateStrategyByFinetune",
           "UpdateStrategyDefault"]
