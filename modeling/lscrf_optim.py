"""Layer-wise learning-rate decay of the layer-sliced CRF family (spec layer-sliced-crf.md §8): the
factor of every parameter, true per-group learning rates, and the reference code's gradient-scaling
variant. Every copy of layer i (shared or any task's) gets the same factor.

Shipped with layer-sliced checkpoints as Hub remote code: torch only.
`LayerSlicedXLNetCRF` (modeling_layer_sliced_crf.py) inherits these methods from `LayerwiseDecayMixin`;
the plain-torch recipe (lscrf_recipe.py) and `biomtl train` (through `layer_lr_scale`) use them.
"""

from __future__ import annotations

import torch


class LayerwiseDecayMixin:
    """Needs `self.config.num_layers` and `self._layer_index(encoder parameter name)`."""

    def layer_lr_scale(self, name: str, layer_decay: float) -> tuple[str, float]:
        """(group name, learning-rate factor) of a parameter under layer-wise decay rho (spec §8):
        heads 1, layer i (shared or any task copy) rho^(n-1-i), embeddings rho^n."""
        rho = layer_decay
        n = self.config.num_layers
        if not name.startswith("encoder."):
            return "head", 1.0
        i = self._layer_index(name[len("encoder."):])
        if i is None:
            return "embeddings", rho ** n
        return f"layer_{i}", rho ** (n - 1 - i)

    def layerwise_lr_groups(self, base_lr: float, weight_decay: float = 0.0, layer_decay: float = 1.0) -> list[dict]:
        """torch.optim parameter groups with true per-group learning rates (layer-wise decay, §8).

        Each group: {"name", "params", "lr", "lr_scale", "weight_decay"}; frozen parameters are left out.
        """
        groups: dict[str, dict] = {}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            gname, scale = self.layer_lr_scale(name, layer_decay)
            g = groups.setdefault(gname, {"name": gname, "params": [], "lr": base_lr * scale, "lr_scale": scale,
                                          "weight_decay": weight_decay})
            g["params"].append(p)
        return list(groups.values())

    @torch.no_grad()
    def scale_gradients_by_layer_(self, layer_decay: float) -> None:
        """Reference-code variant (`layer_decay_impl="grad_scale"`): multiply the gradients of layer i
        by rho^(n-1-i) in place (call after clipping); embeddings and heads are left unscaled."""
        rho = layer_decay
        n = self.config.num_layers
        for name, p in self.named_parameters():
            if p.grad is None or not name.startswith("encoder."):
                continue
            i = self._layer_index(name[len("encoder."):])
            if i is not None:
                p.grad.mul_(rho ** (n - 1 - i))

