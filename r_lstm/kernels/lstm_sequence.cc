// The step loops of an LSTM layer over a whole sequence, forward and
// backward, as two TensorFlow CPU ops (r_lstm/compiled.py builds and loads
// them; r_lstm/sequence.py uses them).
//
// Why a compiled op: in a `tf.while_loop` every step runs a dozen small ops
// (a matmul, the gate activations, the cell update, the TensorArray reads
// and writes), and at batch 32 their dispatch costs as much as their
// arithmetic. Here one op runs all the steps; each step is one Eigen matmul
// (`h @ W_h`, or `dz @ W_hᵀ` backward) and the gate math of its rows, split
// by rows over TensorFlow's intra-op threads. The large matmuls (input
// projections, weight gradients) stay in TensorFlow, outside the loop.
//
// The math is `cells.LSTMCell.forward_step` / `backward_step`'s, op for op
// in the same order (gates i, f, g, o; Eigen's logistic and tanh, which are
// TensorFlow's own Sigmoid and Tanh kernels), so the values differ from the
// TensorFlow loop only by the matmul's summation order.
//
// Rows where `active` is false hold their state (the window has not
// started): their states repeat, their gate gradients are zero and the
// state's gradient passes the step unchanged.

#include <algorithm>
#include <cstring>
#include <functional>

#include "Eigen/Core"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

namespace r_lstm {
namespace {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::errors::InvalidArgument;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

using Matrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
using Array = Eigen::Map<Eigen::ArrayXf>;
using ConstArray = Eigen::Map<const Eigen::ArrayXf>;

// Rows per shard below which its matmuls are too thin to be worth a thread.
constexpr int64_t kMinRowsPerShard = 8;

// Runs `shard(first_row, end_row)` over [0, rows), split over the op's
// intra-op threads. A row's recurrence reads only that row, so a shard runs
// every step of its rows with no synchronisation between steps.
void ForRowShards(OpKernelContext* context, int64_t rows,
                  const std::function<void(int64_t, int64_t)>& shard) {
  auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t shards = std::max<int64_t>(
      1, std::min<int64_t>(pool->NumThreads(), rows / kMinRowsPerShard));
  if (shards == 1) {
    shard(0, rows);
    return;
  }
  const int64_t per_shard = (rows + shards - 1) / shards;
  // A cost that makes every unit its own block: one unit per shard.
  pool->ParallelFor(shards, /*cost_per_unit=*/1 << 30,
                    [&](int64_t begin, int64_t end) {
                      for (int64_t s = begin; s < end; ++s) {
                        const int64_t first = s * per_shard;
                        shard(first, std::min(rows, first + per_shard));
                      }
                    });
}

// Sigmoid and tanh as TensorFlow's CPU kernels compute them.
void Sigmoid(Array x) { x = x.logistic(); }
void Tanh(Array x) { x = x.tanh(); }

// The (L, N) `active` mask, or null when the op got an empty one.
const bool* ActiveOrNull(const Tensor& active) {
  return active.NumElements() == 0 ? nullptr : active.flat<bool>().data();
}

// Checks the shapes the two ops share and sets `units`.
void SequenceShape(OpKernelContext* context, const Tensor& kernel,
                   const Tensor& active, int64_t length, int64_t rows,
                   int64_t* units) {
  OP_REQUIRES(context, kernel.dims() == 2 &&
                           kernel.dim_size(1) == 4 * kernel.dim_size(0),
              InvalidArgument("recurrent_kernel must be (units, 4 * units), "
                              "got ", kernel.shape().DebugString()));
  *units = kernel.dim_size(0);
  const bool no_mask = active.NumElements() == 0;
  OP_REQUIRES(context, no_mask || (active.dims() == 2 &&
                                   active.dim_size(0) == length &&
                                   active.dim_size(1) == rows),
              InvalidArgument("active must be (steps, rows) or empty, got ",
                              active.shape().DebugString()));
}

class LstmSequenceForwardOp : public OpKernel {
 public:
  explicit LstmSequenceForwardOp(OpKernelConstruction* context)
      : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("save_gates", &save_gates_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& projected = context->input(0);
    const Tensor& h0 = context->input(1);
    const Tensor& c0 = context->input(2);
    const Tensor& kernel = context->input(3);
    const Tensor& active_mask = context->input(4);
    OP_REQUIRES(context, projected.dims() == 3,
                InvalidArgument("projected must be (steps, rows, 4 * units), "
                                "got ", projected.shape().DebugString()));
    const int64_t length = projected.dim_size(0);
    const int64_t rows = projected.dim_size(1);
    int64_t units;
    SequenceShape(context, kernel, active_mask, length, rows, &units);
    if (!context->status().ok()) return;
    const int64_t gates = 4 * units;
    OP_REQUIRES(context, projected.dim_size(2) == gates &&
                             h0.shape() == TensorShape({rows, units}) &&
                             c0.shape() == TensorShape({rows, units}),
                InvalidArgument("projected ", projected.shape().DebugString(),
                                ", h ", h0.shape().DebugString(), " and c ",
                                c0.shape().DebugString(),
                                " do not fit a kernel of ", units, " units"));
    Tensor *h_states, *c_states, *saved;
    OP_REQUIRES_OK(context, context->allocate_output(
                                0, TensorShape({length + 1, rows, units}),
                                &h_states));
    OP_REQUIRES_OK(context, context->allocate_output(
                                1, TensorShape({length + 1, rows, units}),
                                &c_states));
    OP_REQUIRES_OK(context, context->allocate_output(
                                2, TensorShape({save_gates_ ? length : 0,
                                                rows, gates}),
                                &saved));
    // Without saving, every step's gates go to one scratch block.
    Tensor scratch;
    if (!save_gates_) {
      OP_REQUIRES_OK(context, context->allocate_temp(
                                  ::tensorflow::DT_FLOAT,
                                  TensorShape({rows, gates}), &scratch));
    }
    float* h = h_states->flat<float>().data();
    float* c = c_states->flat<float>().data();
    float* z = (save_gates_ ? saved : &scratch)->flat<float>().data();
    const float* x = projected.flat<float>().data();
    const bool* active = ActiveOrNull(active_mask);
    const int64_t state_size = rows * units;
    std::memcpy(h, h0.flat<float>().data(), state_size * sizeof(float));
    std::memcpy(c, c0.flat<float>().data(), state_size * sizeof(float));
    const ConstMatrixMap recurrent(kernel.flat<float>().data(), units, gates);

    ForRowShards(context, rows, [&](int64_t first, int64_t end) {
      for (int64_t t = 0; t < length; ++t) {
        const float* h_before = h + t * state_size;
        const float* c_before = c + t * state_size;
        float* h_after = h + (t + 1) * state_size;
        float* c_after = c + (t + 1) * state_size;
        float* z_t = save_gates_ ? z + t * rows * gates : z;
        const float* x_t = x + t * rows * gates;
        const bool* active_t = active ? active + t * rows : nullptr;
        const int64_t n = end - first;
        std::memcpy(z_t + first * gates, x_t + first * gates,
                    n * gates * sizeof(float));
        MatrixMap z_rows(z_t + first * gates, n, gates);
        z_rows.noalias() +=
            ConstMatrixMap(h_before + first * units, n, units) * recurrent;
        for (int64_t r = first; r < end; ++r) {
          float* zr = z_t + r * gates;
          Sigmoid(Array(zr, units));
          Sigmoid(Array(zr + units, units));
          Tanh(Array(zr + 2 * units, units));
          Sigmoid(Array(zr + 3 * units, units));
          Array h_new(h_after + r * units, units);
          Array c_new(c_after + r * units, units);
          if (active_t && !active_t[r]) {
            h_new = ConstArray(h_before + r * units, units);
            c_new = ConstArray(c_before + r * units, units);
            continue;
          }
          const ConstArray i(zr, units), f(zr + units, units),
              g(zr + 2 * units, units), o(zr + 3 * units, units);
          c_new = f * ConstArray(c_before + r * units, units) + i * g;
          h_new = c_new;
          Tanh(h_new);
          h_new = o * h_new;
        }
      }
    });
  }

 private:
  bool save_gates_;
};

class LstmSequenceBackwardOp : public OpKernel {
 public:
  explicit LstmSequenceBackwardOp(OpKernelConstruction* context)
      : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& saved = context->input(0);
    const Tensor& c_states = context->input(1);
    const Tensor& kernel = context->input(2);
    const Tensor& active_mask = context->input(3);
    const Tensor& d_outputs = context->input(4);
    const Tensor& d_h_final = context->input(5);
    const Tensor& d_c_final = context->input(6);
    OP_REQUIRES(context, saved.dims() == 3,
                InvalidArgument("saved gates must be (steps, rows, 4 * "
                                "units), got ", saved.shape().DebugString()));
    const int64_t length = saved.dim_size(0);
    const int64_t rows = saved.dim_size(1);
    int64_t units;
    SequenceShape(context, kernel, active_mask, length, rows, &units);
    if (!context->status().ok()) return;
    const int64_t gates = 4 * units;
    const TensorShape state_shape({rows, units});
    OP_REQUIRES(context,
                saved.dim_size(2) == gates &&
                    c_states.shape() ==
                        TensorShape({length + 1, rows, units}) &&
                    d_outputs.shape() == TensorShape({length, rows, units}) &&
                    d_h_final.shape() == state_shape &&
                    d_c_final.shape() == state_shape,
                InvalidArgument("the saved gates, cell states and gradients "
                                "do not fit ", length, " steps of ", rows,
                                " rows of ", units, " units"));
    Tensor *d_projected, *d_h0, *d_c0;
    OP_REQUIRES_OK(context, context->allocate_output(0, saved.shape(),
                                                     &d_projected));
    OP_REQUIRES_OK(context, context->allocate_output(1, state_shape, &d_h0));
    OP_REQUIRES_OK(context, context->allocate_output(2, state_shape, &d_c0));
    const int64_t state_size = rows * units;
    // The carried gradients: (dh, dc) after step t, and before it.
    Tensor carried_tensor;
    OP_REQUIRES_OK(context, context->allocate_temp(
                                ::tensorflow::DT_FLOAT,
                                TensorShape({4, rows, units}),
                                &carried_tensor));
    float* carried = carried_tensor.flat<float>().data();
    float* dh_after = carried;
    float* dc_after = carried + state_size;
    float* dh_before = carried + 2 * state_size;
    float* dc_before = carried + 3 * state_size;
    std::memcpy(dh_after, d_h_final.flat<float>().data(),
                state_size * sizeof(float));
    std::memcpy(dc_after, d_c_final.flat<float>().data(),
                state_size * sizeof(float));
    const float* z = saved.flat<float>().data();
    const float* c = c_states.flat<float>().data();
    const float* d_out = d_outputs.flat<float>().data();
    float* dz = d_projected->flat<float>().data();
    const bool* active = ActiveOrNull(active_mask);
    // W_hᵀ laid out row-major once: Eigen multiplies by it faster than by a
    // transposed view of W_h.
    Tensor transposed_tensor;
    OP_REQUIRES_OK(context, context->allocate_temp(
                                ::tensorflow::DT_FLOAT,
                                TensorShape({gates, units}),
                                &transposed_tensor));
    MatrixMap recurrent_t(transposed_tensor.flat<float>().data(), gates,
                          units);
    recurrent_t = ConstMatrixMap(kernel.flat<float>().data(), units,
                                 gates).transpose();

    ForRowShards(context, rows, [&](int64_t first, int64_t end) {
      // This shard's own view of the two carried buffers, swapped per step.
      float *dh_after_t = dh_after, *dc_after_t = dc_after;
      float *dh_before_t = dh_before, *dc_before_t = dc_before;
      for (int64_t t = length - 1; t >= 0; --t) {
        const float* z_t = z + t * rows * gates;
        const float* c_before = c + t * state_size;
        const float* c_after = c + (t + 1) * state_size;
        const float* d_out_t = d_out + t * state_size;
        float* dz_t = dz + t * rows * gates;
        const bool* active_t = active ? active + t * rows : nullptr;
        for (int64_t r = first; r < end; ++r) {
          Array dh(dh_after_t + r * units, units);
          Array dc(dc_after_t + r * units, units);
          Array dz_r(dz_t + r * gates, gates);
          if (active_t && !active_t[r]) {
            dz_r.setZero();
            continue;
          }
          dh += ConstArray(d_out_t + r * units, units);
          const float* zr = z_t + r * gates;
          const ConstArray i(zr, units), f(zr + units, units),
              g(zr + 2 * units, units), o(zr + 3 * units, units);
          // dh_before's row is scratch until the matmul below writes it.
          Array tanh_c(dh_before_t + r * units, units);
          tanh_c = ConstArray(c_after + r * units, units);
          Tanh(tanh_c);
          dc += (dh * o) * (1 - tanh_c * tanh_c);
          dz_r.segment(0, units) = (dc * g) * (i * (1 - i));
          dz_r.segment(units, units) =
              (dc * ConstArray(c_before + r * units, units)) * (f * (1 - f));
          dz_r.segment(2 * units, units) = (dc * i) * (1 - g * g);
          dz_r.segment(3 * units, units) = (dh * tanh_c) * (o * (1 - o));
          Array(dc_before_t + r * units, units) = dc * f;
        }
        const int64_t n = end - first;
        MatrixMap dh_rows(dh_before_t + first * units, n, units);
        dh_rows.noalias() =
            ConstMatrixMap(dz_t + first * gates, n, gates) * recurrent_t;
        for (int64_t r = first; r < end; ++r) {
          if (active_t && !active_t[r]) {  // Held: the gradient passes by.
            Array(dh_before_t + r * units, units) =
                Array(dh_after_t + r * units, units);
            Array(dc_before_t + r * units, units) =
                Array(dc_after_t + r * units, units);
          }
        }
        std::swap(dh_after_t, dh_before_t);
        std::swap(dc_after_t, dc_before_t);
      }
    });
    if (length % 2) {  // Where every shard's last swap left the start's.
      std::swap(dh_after, dh_before);
      std::swap(dc_after, dc_before);
    }
    std::memcpy(d_h0->flat<float>().data(), dh_after,
                state_size * sizeof(float));
    std::memcpy(d_c0->flat<float>().data(), dc_after,
                state_size * sizeof(float));
  }
};

// (L + 1, N, U) from projected inputs (L, N, 4U).
absl::Status ForwardShapes(InferenceContext* c) {
  ShapeHandle projected, state;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &projected));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &state));
  DimensionHandle steps_and_start;
  TF_RETURN_IF_ERROR(c->Add(c->Dim(projected, 0), 1, &steps_and_start));
  ShapeHandle states = c->MakeShape(
      {steps_and_start, c->Dim(projected, 1), c->Dim(state, 1)});
  c->set_output(0, states);
  c->set_output(1, states);
  bool save_gates;
  TF_RETURN_IF_ERROR(c->GetAttr("save_gates", &save_gates));
  c->set_output(2, save_gates ? projected
                              : c->MakeShape({0, c->Dim(projected, 1),
                                              c->Dim(projected, 2)}));
  return absl::OkStatus();
}

absl::Status BackwardShapes(InferenceContext* c) {
  c->set_output(0, c->input(0));
  c->set_output(1, c->input(5));
  c->set_output(2, c->input(6));
  return absl::OkStatus();
}

REGISTER_OP("RLstmLstmSequenceForward")
    .Input("projected: float")
    .Input("h: float")
    .Input("c: float")
    .Input("recurrent_kernel: float")
    .Input("active: bool")
    .Output("h_states: float")
    .Output("c_states: float")
    .Output("gates: float")
    .Attr("save_gates: bool = true")
    .SetShapeFn(ForwardShapes)
    .Doc("An LSTM over projected inputs (L, N, 4U): the states before and "
         "after every step (L + 1, N, U) and the activated gates i, f, g, o "
         "of every step (none without `save_gates`: a pass that no "
         "gradient follows). `active` (L, N) or empty.");

REGISTER_OP("RLstmLstmSequenceBackward")
    .Input("gates: float")
    .Input("c_states: float")
    .Input("recurrent_kernel: float")
    .Input("active: bool")
    .Input("d_outputs: float")
    .Input("d_h: float")
    .Input("d_c: float")
    .Output("d_projected: float")
    .Output("d_h_start: float")
    .Output("d_c_start: float")
    .SetShapeFn(BackwardShapes)
    .Doc("The gradients of RLstmLstmSequenceForward's h outputs (L, N, U; "
         "zero where inactive) and final state with respect to the "
         "projected inputs and the start state.");

REGISTER_KERNEL_BUILDER(
    Name("RLstmLstmSequenceForward").Device(DEVICE_CPU),
    LstmSequenceForwardOp);
REGISTER_KERNEL_BUILDER(
    Name("RLstmLstmSequenceBackward").Device(DEVICE_CPU),
    LstmSequenceBackwardOp);

}  // namespace
}  // namespace r_lstm
