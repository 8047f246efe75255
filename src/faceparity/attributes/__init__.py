"""Audits of facial-analysis classifiers (sex, age, ...) against labels a user supplies.

faceparity never infers race or ethnicity to label people: the group labels of an
audit come from the user's table (see the README's section on facial analysis).
"""

from faceparity.attributes.audit import AttributeAuditConfig, TaskKind, audit_attributes

__all__ = ["AttributeAuditConfig", "TaskKind", "audit_attributes"]
