"""The core's optimizers: adam, nadam, adamax, adamw, rms-prop, adabelief and lion.

faceswap trains with torch's optimizers (``lib/training/optimizer.py``), so each fs optimizer
computes torch's update rule, not Keras' where the two differ (see ``docs/optimizers.md``):

* rms-prop divides by ``√v + eps`` (torch ``RMSprop``), not Keras' ``√(v + eps)``; ρ 0.99, no
  momentum, not centered (torch's defaults; faceswap passes only lr, eps and weight decay).
* nadam uses torch ``NAdam``'s momentum schedule ``μ_t = β1·(1 − ½·0.96^(t·ψ))``, ψ = 4e-3
  (Keras uses 0.96^t, which settles within ~100 steps instead of ~10 k).
* adam, adamw and amsgrad add eps to the bias-corrected ``√v̂`` (torch ``Adam``/``AdamW``); fs
  keeps TensorFlow's fused kernel by passing it the equivalent per-step epsilon
  ``eps·√(1 − β2^t)`` (:class:`FusedAdamUpdate`).
* adamax takes ``u = max(β2·u, |g| + eps)`` and divides by ``u`` (torch ``Adamax``).
* weight decay: coupled L2 (``g += wd·w`` before the update, so it passes through the moments)
  for adam, nadam, adamax and rms-prop, as torch does for these; decoupled (``w -= lr·wd·w``
  before the update) for adamw, adabelief and lion. Never on biases or any variable of rank ≤ 1
  (norm scales), as faceswap's parameter groups.

Options come from ``[global]`` (:class:`fs_core.config.sections.GlobalOptions`): epsilon =
10^epsilon_exponent (not Lion), betas from ada_beta_1/2, amsgrad where the algorithm has it, and
Keras 3's own gradient accumulation when ``gradient_accumulation`` > 1 (the accumulated gradient is
the mean of the N micro-batch gradients, the same as dividing the loss by N and summing; do not
divide the loss too).

All classes are Keras-serializable under package ``fs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
from keras import ops

import fs_core
from fs_core import backend
from fs_core.descriptors import OptimizerDescriptor


def never_decayed(variable: Any) -> bool:
    """Biases, norm scales and anything else of rank ≤ 1 get no weight decay (faceswap's
    ``get_parameter_group_ids`` puts these in its no-decay parameter group)."""
    name = str(getattr(variable, "name", "")).split(":")[0]
    return len(variable.shape) <= 1 or name.endswith("bias")


if TYPE_CHECKING:
    # to the type checker a mixin is the Keras optimizer it is mixed into
    from keras.optimizers import Optimizer as _OptimizerBase
else:
    _OptimizerBase = object


class FsOptimizerMixin(_OptimizerBase):
    """What every fs optimizer adds to its Keras base.

    * Weight decay skips :func:`never_decayed` variables. They are excluded through Keras'
      ``exclude_from_weight_decay`` when the optimizer is built, the first moment the variables
      are known (this replaces any earlier exclusion list).
    * Weight decay is decoupled (Keras' own, applied to the weights before the update) when
      :attr:`decoupled_weight_decay` is True; otherwise it is torch's coupled L2: each
      ``update_step`` adds ``wd·w`` to the gradient through :meth:`coupled_decay`, after clipping,
      so the decay passes through the moments exactly as in torch's Adam, NAdam, Adamax, RMSprop.
    * :meth:`set_gradient_clipper` installs a clipper (see :mod:`fs_core.training.clipping`) that
      runs inside the optimizer step on the gradients it is about to apply: after loss-scale
      unscaling (``LossScaleOptimizer`` hands unscaled gradients to its inner optimizer) and, with
      gradient accumulation, on the accumulated mean, exactly where faceswap clips.
    """

    #: True: ``w -= lr·wd·w`` beside the update (AdamW style); False: ``g += wd·w`` (L2, torch's
    #: ``weight_decay`` of Adam, NAdam, Adamax and RMSprop)
    decoupled_weight_decay = True

    def build(self, var_list: list[Any]) -> None:
        if not self.built:
            self.exclude_from_weight_decay(var_list=[v for v in var_list if never_decayed(v)])
        super().build(var_list)

    def _apply_weight_decay(self, variables: list[Any]) -> None:
        if self.decoupled_weight_decay:
            super()._apply_weight_decay(variables)

    def coupled_decay(self, gradient: Any, variable: Any) -> Any:
        """``gradient + wd·variable`` where coupled L2 applies to ``variable``, else the
        gradient."""
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        if (
            self.decoupled_weight_decay
            or not self.weight_decay
            or not self._use_weight_decay(variable)
        ):
            return gradient
        return gradient + ops.cast(self.weight_decay, dtype) * ops.convert_to_tensor(variable)

    def set_gradient_clipper(self, clipper: Callable[[list[Any]], list[Any]] | None) -> None:
        """Clip the gradients of every optimizer step with ``clipper`` (``None``: stop clipping)."""
        self._fs_gradient_clipper = clipper

    def _clip_gradients(self, grads: list[Any]) -> list[Any]:
        grads = super()._clip_gradients(grads)
        clipper = getattr(self, "_fs_gradient_clipper", None)
        return list(clipper(list(grads))) if clipper is not None else grads


class FusedAdamUpdate(_OptimizerBase):
    """torch's Adam update as TensorFlow's one fused kernel instead of Keras' eight ops.

    Why fused: Keras writes the update as separate element-wise ops (multiply, subtract, square,
    sqrt, divide, three assignments), each one a pass over memory; for Original's 82 million
    weights that took 246 ms a step on a 2-core CPU, 13% of the step. ``ResourceApplyAdam`` (and
    its AMSGrad twin) computes ``m += (g - m)(1 - b1)``, ``v += (g² - v)(1 - b2)``,
    ``w -= lr·√(1 - b2^t)/(1 - b1^t) · m / (√v + ε)`` in one pass: 80 ms.

    Why a per-step ε: torch (``Adam``/``AdamW``, amsgrad too) adds eps to the bias-corrected
    ``√v / √(1 - b2^t)``; Keras and the kernel add it to ``√v``. Multiplying torch's numerator and
    denominator by ``√(1 - b2^t)`` gives the kernel's formula with ``ε = eps·√(1 - b2^t)``, so that
    scalar is passed and the fused kernel computes torch's rule at the same speed (with eps 1e-7
    Keras' effective eps is up to 31× torch's in the first steps). The moments are Keras' own slot
    variables, so optimizer state saves and loads as before. Coupled weight decay (Adam) is added
    to the gradient first, decoupled (AdamW) and clipping run before, as in torch. Sparse gradients
    and non-TensorFlow variables take the same formula as plain ops; :attr:`fused` = False forces
    that path (benchmarks, tests).
    """

    fused = True

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = ops.cast(self.iterations + 1, dtype)
        beta1, beta2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        beta1_power, beta2_power = ops.power(beta1, step), ops.power(beta2, step)
        lr = ops.cast(learning_rate, dtype)
        epsilon = ops.cast(self.epsilon, dtype) * ops.sqrt(1.0 - beta2_power)
        implementation = backend.get()
        if not self.fused or not implementation.can_fuse(variable, gradient):
            gradient = self.coupled_decay(implementation.dense(gradient), variable)
            m, v = self._momentums[index], self._velocities[index]
            self.assign_add(m, (gradient - m) * (1.0 - beta1))
            self.assign_add(v, (ops.square(gradient) - v) * (1.0 - beta2))
            if self.amsgrad:
                v_hat = self._velocity_hats[index]
                self.assign(v_hat, ops.maximum(v_hat, v))
                v = v_hat
            alpha = lr * ops.sqrt(1.0 - beta2_power) / (1.0 - beta1_power)
            self.assign_sub(variable, alpha * m / (ops.sqrt(v) + epsilon))
            return None
        implementation.fused_adam_update(
            variable,
            self._momentums[index],
            self._velocities[index],
            self._velocity_hats[index] if self.amsgrad else None,
            self.coupled_decay(gradient, variable),
            beta1_power=beta1_power,
            beta2_power=beta2_power,
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            epsilon=epsilon,
        )
        return None


@keras.saving.register_keras_serializable(package="fs")
class FsAdam(FsOptimizerMixin, FusedAdamUpdate, keras.optimizers.Adam):
    """torch's Adam (eps after bias correction, coupled L2 weight decay) on Keras' Adam slots."""

    decoupled_weight_decay = False


@keras.saving.register_keras_serializable(package="fs")
class FsNadam(FsOptimizerMixin, keras.optimizers.Nadam):
    """torch's NAdam on Keras' Nadam slots: the momentum schedule μ_t = β1·(1 − ½·0.96^(t·ψ)).

    Why: Keras' Nadam uses 0.96^t, so its μ reaches β1 within ~100 steps; torch's (which faceswap
    uses) takes ~10 k steps with ψ = ``momentum_decay`` = 4e-3. The update, written out from torch's
    documented rule: ``m̂ = μ_{t+1}·m / (1 − Πμ_1..t+1) + (1 − μ_t)·g / (1 − Πμ_1..t)``,
    ``w -= lr·m̂ / (√(v / (1 − β2^t)) + eps)``. Weight decay is coupled L2 (torch's default
    ``decoupled_weight_decay=False``). The running product Πμ is Keras' ``_u_product`` variable.
    """

    decoupled_weight_decay = False

    def __init__(self, *args: Any, momentum_decay: float = 4e-3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.momentum_decay = momentum_decay

    def _mu(self, step: Any, dtype: Any) -> Any:
        """torch's μ at (1-based) ``step``."""
        decay = ops.cast(self.momentum_decay, dtype)
        return ops.cast(self.beta_1, dtype) * (
            1.0 - 0.5 * ops.power(ops.cast(0.96, dtype), step * decay)
        )

    def _backend_update_step(
        self, grads: list[Any], trainable_variables: list[Any], learning_rate: Any
    ) -> None:
        # once per step (not per variable): Πμ gains this step's μ; Keras' own 0.96^t product
        # update is skipped by calling past keras.optimizers.Nadam
        dtype = self._u_product.dtype
        step = ops.cast(self.iterations + 1, dtype)
        self.assign(self._u_product, self._u_product * self._mu(step, dtype))
        super(keras.optimizers.Nadam, self)._backend_update_step(
            grads, trainable_variables, learning_rate
        )

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = self.coupled_decay(gradient, variable)
        lr = ops.cast(learning_rate, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta1, beta2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        mu, mu_next = self._mu(step, dtype), self._mu(step + 1.0, dtype)
        product = ops.cast(self._u_product, dtype)
        product_next = product * mu_next
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, (gradient - m) * (1.0 - beta1))
        self.assign_add(v, (ops.square(gradient) - v) * (1.0 - beta2))
        denominator = ops.sqrt(v / (1.0 - ops.power(beta2, step))) + ops.cast(self.epsilon, dtype)
        update = (1.0 - mu) / (1.0 - product) * gradient + mu_next / (1.0 - product_next) * m
        self.assign_sub(variable, lr * update / denominator)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["momentum_decay"] = self.momentum_decay
        return config


@keras.saving.register_keras_serializable(package="fs")
class FsAdamax(FsOptimizerMixin, keras.optimizers.Adamax):
    """torch's Adamax on Keras' Adamax slots: ``u = max(β2·u, |g| + eps)``, ``w -=
    lr·m/((1−β1^t)·u)``.

    Why: Keras takes ``max(β2·u, |g|)`` and divides by ``u + eps``; torch (faceswap's) puts eps
    inside the maximum. Weight decay is coupled L2, as torch's.
    """

    decoupled_weight_decay = False

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = self.coupled_decay(gradient, variable)
        lr = ops.cast(learning_rate, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta1 = ops.cast(self.beta_1, dtype)
        index = self._get_variable_index(variable)
        m, u = self._m[index], self._u[index]
        self.assign_add(m, (gradient - m) * (1.0 - beta1))
        self.assign(
            u,
            ops.maximum(
                ops.cast(self.beta_2, dtype) * u, ops.abs(gradient) + ops.cast(self.epsilon, dtype)
            ),
        )
        self.assign_sub(variable, lr * m / ((1.0 - ops.power(beta1, step)) * u))


@keras.saving.register_keras_serializable(package="fs")
class FsAdamW(FsOptimizerMixin, FusedAdamUpdate, keras.optimizers.AdamW):
    """torch's AdamW (decoupled weight decay, eps after bias correction) on Keras' AdamW slots."""


@keras.saving.register_keras_serializable(package="fs")
class FsRMSprop(FsOptimizerMixin, keras.optimizers.RMSprop):
    """torch's RMSprop on Keras' RMSprop slots: ``w -= lr·g / (√v + eps)``.

    Why: Keras divides by ``√(v + eps)``. With eps 1e-7 that floors the denominator at 3.2e-4, so
    weights whose gradients are around 1e-4 move a fraction of torch's step (3% on the first step,
    30% once v has settled); faceswap trains with torch's rule. Momentum (a buffer of ``g/denom``,
    times lr at the end) and centering follow torch too, though fs uses neither. Weight decay is
    coupled L2, as torch's.
    """

    decoupled_weight_decay = False

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = self.coupled_decay(gradient, variable)
        lr = ops.cast(learning_rate, dtype)
        rho = ops.cast(self.rho, dtype)
        index = self._get_variable_index(variable)
        velocity = self._velocities[index]
        self.assign(velocity, rho * velocity + (1.0 - rho) * ops.square(gradient))
        average = velocity
        if self.centered:
            average_gradient = self._average_gradients[index]
            self.assign(average_gradient, rho * average_gradient + (1.0 - rho) * gradient)
            average = velocity - ops.square(average_gradient)
        denominator = ops.sqrt(average) + ops.cast(self.epsilon, dtype)
        if self.momentum > 0:
            buffer = self._momentums[index]
            self.assign(buffer, ops.cast(self.momentum, dtype) * buffer + gradient / denominator)
            self.assign_sub(variable, lr * buffer)
        else:
            self.assign_sub(variable, lr * gradient / denominator)


@keras.saving.register_keras_serializable(package="fs")
class AdaBelief(FsOptimizerMixin, keras.optimizers.Optimizer):
    """AdaBelief (Zhuang et al. 2020): Adam whose second moment is the belief in the gradient.

    ``m ← β1·m + (1−β1)·g``; ``s ← β2·s + (1−β2)·(g − m)² + ε``. With ``rectify`` (the default) the
    step is RAdam-rectified: while the approximated SMA length ρ_t < 5 the adaptive term is not
    trusted and the step is plain momentum SGD ``lr·m/(1−β1^t)`` (or nothing, when
    ``degenerated_to_sgd`` is off); from ρ_t ≥ 5 it is ``lr·r_t·m/(√s + ε)`` with the RAdam factor
    r_t (which carries both bias corrections). Weight decay is decoupled (Keras' ``weight_decay``).
    """

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-16,
        amsgrad: bool = False,
        rectify: bool = True,
        degenerated_to_sgd: bool = True,
        name: str = "adabelief",
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.rectify = rectify
        self.degenerated_to_sgd = degenerated_to_sgd

    def build(self, var_list: list[Any]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._beliefs = self.add_optimizer_variables(
            var_list, ["momentum", "belief"]
        )
        if self.amsgrad:
            self._belief_maxima = self.add_optimizer_variables(var_list, "belief_max")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        b1 = ops.cast(self.beta_1, dtype)
        b2 = ops.cast(self.beta_2, dtype)
        eps = ops.cast(self.epsilon, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, s = self._momentums[index], self._beliefs[index]

        m_new = b1 * m + (1.0 - b1) * g
        s_new = b2 * s + (1.0 - b2) * ops.square(g - m_new) + eps
        self.assign(m, m_new)
        self.assign(s, s_new)
        if self.amsgrad:
            s_max = self._belief_maxima[index]
            s_new = ops.maximum(s_max, s_new)
            self.assign(s_max, s_new)

        correction_1 = 1.0 - ops.power(b1, step)
        b2_power = ops.power(b2, step)
        correction_2 = 1.0 - b2_power
        if not self.rectify:
            denominator = ops.sqrt(s_new) / ops.sqrt(correction_2) + eps
            self.assign_sub(variable, lr / correction_1 * m_new / denominator)
            return
        sma_max = 2.0 / (1.0 - b2) - 1.0
        sma = sma_max - 2.0 * step * b2_power / correction_2
        trusted = sma >= 5.0
        ratio = (
            (sma - 4.0)
            / (sma_max - 4.0)
            * (sma - 2.0)
            / ops.maximum(sma, 1e-8)
            * sma_max
            / (sma_max - 2.0)
        )
        rectified = ops.sqrt(correction_2 * ops.maximum(ratio, 0.0)) / correction_1
        adaptive = rectified * m_new / (ops.sqrt(s_new) + eps)
        early = m_new / correction_1 if self.degenerated_to_sgd else ops.zeros_like(m_new)
        self.assign_sub(variable, lr * ops.where(trusted, adaptive, early))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
                "rectify": self.rectify,
                "degenerated_to_sgd": self.degenerated_to_sgd,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="fs")
class Lion(FsOptimizerMixin, keras.optimizers.Optimizer):
    """Lion (Chen et al. 2023): a sign-of-momentum update, one state variable per weight.

    ``p ← p·(1 − lr·wd) − lr·sign(β1·m + (1−β1)·g)``, then ``m ← β2·m + (1−β2)·g``. The decay
    factor is Keras' decoupled ``weight_decay``, applied before the update.
    """

    def __init__(
        self,
        learning_rate: float = 1e-4,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        name: str = "lion",
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def build(self, var_list: list[Any]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        b1 = ops.cast(self.beta_1, dtype)
        b2 = ops.cast(self.beta_2, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        self.assign_sub(variable, lr * ops.sign(b1 * m + (1.0 - b1) * g))
        self.assign(m, b2 * m + (1.0 - b2) * g)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config


# ---------------------------------------------------------------- from [global] options


def _common(options: Any, name: str) -> dict[str, Any]:
    steps = int(options.gradient_accumulation)
    return {
        "learning_rate": float(options.learning_rate),
        "name": name,
        "weight_decay": float(options.weight_decay) or None,
        "gradient_accumulation_steps": steps if steps > 1 else None,
    }


def _epsilon(options: Any) -> dict[str, Any]:
    return {"epsilon": 10.0 ** int(options.epsilon_exponent)}


def _betas(options: Any) -> dict[str, Any]:
    return {"beta_1": float(options.ada_beta_1), "beta_2": float(options.ada_beta_2)}


def _amsgrad(options: Any) -> dict[str, Any]:
    return {"amsgrad": bool(options.ada_amsgrad)}


def make_adam(options: Any) -> FsAdam:
    return FsAdam(
        **_common(options, "adam"), **_epsilon(options), **_betas(options), **_amsgrad(options)
    )


def make_nadam(options: Any) -> FsNadam:
    return FsNadam(**_common(options, "nadam"), **_epsilon(options), **_betas(options))


def make_adamax(options: Any) -> FsAdamax:
    return FsAdamax(**_common(options, "adamax"), **_epsilon(options), **_betas(options))


def make_adamw(options: Any) -> FsAdamW:
    common = _common(options, "adamw")
    common["weight_decay"] = float(options.weight_decay)  # Keras AdamW refuses None
    return FsAdamW(**common, **_epsilon(options), **_betas(options), **_amsgrad(options))


def make_rmsprop(options: Any) -> FsRMSprop:
    # faceswap passes only lr, eps and decay: torch's RMSprop defaults give a squared-gradient
    # average of 0.99, no momentum and no centering, which we keep (Keras' own rho default is 0.9)
    return FsRMSprop(**_common(options, "rmsprop"), **_epsilon(options), rho=0.99, momentum=0.0)


def make_adabelief(options: Any) -> AdaBelief:
    return AdaBelief(
        **_common(options, "adabelief"), **_epsilon(options), **_betas(options), **_amsgrad(options)
    )


def make_lion(options: Any) -> Lion:
    return Lion(**_common(options, "lion"), **_betas(options))


@fs_core.hookimpl
def fs_optimizers() -> list[OptimizerDescriptor]:
    return [
        OptimizerDescriptor(
            name="adam",
            make=make_adam,
            help="Adam (the default), torch's rule; weight_decay is L2 (coupled).",
        ),
        OptimizerDescriptor(
            name="nadam",
            make=make_nadam,
            help="Adam with Nesterov momentum, torch's momentum schedule; "
            "weight_decay is L2 (coupled).",
        ),
        OptimizerDescriptor(
            name="adamax",
            make=make_adamax,
            help="Adam with an infinity norm, torch's rule; weight_decay is L2 (coupled).",
        ),
        OptimizerDescriptor(
            name="adamw",
            make=make_adamw,
            help="Adam with decoupled weight decay (try weight_decay 0.004).",
        ),
        OptimizerDescriptor(
            name="rms-prop",
            make=make_rmsprop,
            help="RMSprop, torch's rule (g / (sqrt(v) + eps), rho 0.99); "
            "weight_decay is L2 (coupled).",
        ),
        OptimizerDescriptor(
            name="adabelief",
            make=make_adabelief,
            help="AdaBelief, rectified (try epsilon_exponent -16).",
        ),
        OptimizerDescriptor(
            name="lion",
            make=make_lion,
            help="Lion: sign updates, half Adam's memory (use a smaller "
            "learning rate). Ignores epsilon.",
        ),
    ]
