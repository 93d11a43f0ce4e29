#include "backends/ref/ref.h"
#include "runtime/backend.h"

namespace octet {

namespace {

class RefKernel final : public Kernel {
 public:
  explicit RefKernel(const Node& n) : node_(n), fn_(ref_fn(n.op)) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    fn_(OpArgs{node_, in, out});
  }

 private:
  Node node_;  // a copy: kernels outlive graph edits
  RefFn fn_;
};

class RefBackend final : public Backend {
 public:
  const char* name() const override { return "ref"; }
  bool supports(const Graph&, const Node&) const override { return true; }
  std::unique_ptr<Kernel> create(const Graph&, const Node& n) const override {
    return std::make_unique<RefKernel>(n);
  }
};

}  // namespace

std::unique_ptr<Backend> make_ref_backend() { return std::make_unique<RefBackend>(); }

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "ref") return make_ref_backend();
  if (name == "cpu") return make_cpu_backend();
  fail("unknown backend '", name, "' (valid: ref, cpu)");
}

}  // namespace octet
