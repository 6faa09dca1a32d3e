"""Distillation losses.

Hinton et al. (2015): KL(softmax(t/T) || softmax(s/T)) scaled by T^2 (so its gradients keep the
hard-label term's magnitude as T changes), mixed with hard-label cross-entropy by alpha.
FitNets-style hints: MSE between a teacher feature and the (adapted) student feature.
Outputs that are not class scores are matched directly: MSE (values) or 1 - cosine (directions).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from edge_pipeline.config.shrink import KDLoss

UNLABELLED = -1  # label value of samples without a label (see shrinking.data.torch_dataset)


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(p_teacher^T || p_student^T), averaged over the batch. Logits: (B, classes)."""
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            config: KDLoss) -> torch.Tensor:
    """alpha * soft-target KD + (1 - alpha) * CE on labelled samples; KD alone where labels are absent."""
    soft = soft_target_loss(student_logits, teacher_logits, config.temperature)
    return mix_hard_labels(soft, student_logits, labels, config.alpha)


def mix_hard_labels(soft: torch.Tensor, student_logits: torch.Tensor, labels: torch.Tensor,
                    alpha: float) -> torch.Tensor:
    """alpha * ``soft`` + (1 - alpha) * CE of ``student_logits`` (B, classes) on the labelled samples."""
    labelled = labels != UNLABELLED
    if alpha >= 1.0 or not bool(labelled.any()):
        return soft
    hard = F.cross_entropy(student_logits[labelled], labels[labelled])
    return alpha * soft + (1.0 - alpha) * hard


def mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element (boxes, regression values, embeddings)."""
    return F.mse_loss(student, teacher)


def cosine_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of each sample's output, flattened, averaged over the batch: the
    direction of an embedding, whatever its scale."""
    batch = student.shape[0]
    return 1.0 - F.cosine_similarity(student.reshape(batch, -1), teacher.reshape(batch, -1), dim=1).mean()


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    labelled = labels != UNLABELLED
    return F.cross_entropy(logits[labelled], labels[labelled]) if bool(labelled.any()) else logits.sum() * 0.0


def hint_loss(student_features: list[torch.Tensor], teacher_features: list[torch.Tensor],
              weights: list[float]) -> torch.Tensor:
    """Sum of weighted MSEs between adapted student features and teacher features (same shapes)."""
    total = student_features[0].new_zeros(()) if student_features else torch.zeros(())
    for student, teacher, weight in zip(student_features, teacher_features, weights, strict=True):
        total = total + weight * F.mse_loss(student, teacher)
    return total
