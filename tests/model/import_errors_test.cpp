// The ONNX importer on bad and hostile input: every case gives an octet::Error whose message names the file and
// the thing that is wrong; none crashes or allocates absurdly. Also external-data initializers and old opsets.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "onnx/import.h"
#include "runtime/plan.h"
#include "test_util.h"

using namespace octet;

namespace {

onnx::ModelProto tiny_model(int64_t opset = 17) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
  auto* shp = in->mutable_type()->mutable_tensor_type()->mutable_shape();
  shp->add_dim()->set_dim_param("N");
  shp->add_dim()->set_dim_value(4);
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(1);
  w->add_dims(4);
  for (int i = 0; i < 4; ++i) w->add_float_data(static_cast<float>(i));
  auto* n = g->add_node();
  n->set_name("add0");
  n->set_op_type("Add");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  g->add_output()->set_name("y");
  return m;
}

std::string bytes(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

std::string import_error(const std::string& b, const std::string& dir = ".") {
  try {
    import_onnx_buffer(b.data(), b.size(), "bad.onnx", dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ImportErrors, TinyModelImportsAndRuns) {
  std::string b = bytes(tiny_model());
  ImportResult r = import_onnx_buffer(b.data(), b.size(), "tiny.onnx", ".");
  auto out = run_reference(r.graph, {Tensor::from<float>({1, 4}, {1, 1, 1, 1})});
  EXPECT_EQ(out[0].to_f32(), (std::vector<float>{1, 2, 3, 4}));
}

TEST(ImportErrors, EmptyTruncatedAndForeignFiles) {
  EXPECT_NE(import_error("").find("empty"), std::string::npos);
  std::string b = bytes(tiny_model());
  for (size_t cut : {size_t{3}, b.size() / 2, b.size() - 1}) {
    std::string msg = import_error(b.substr(0, cut));
    EXPECT_NE(msg.find("bad.onnx"), std::string::npos) << "cut at " << cut << ": " << msg;
  }
  EXPECT_NE(import_error("\x89PNG\r\n\x1a\n not a model at all").find("not an ONNX model"), std::string::npos);
}

TEST(ImportErrors, InitializerSizeDisagreesWithDims) {
  auto m = tiny_model();
  m.mutable_graph()->mutable_initializer(0)->add_dims(1000000);  // 4 values for 4 x 1e6
  std::string msg = import_error(bytes(m));
  EXPECT_NE(msg.find("initializer 'w'"), std::string::npos) << msg;
}

TEST(ImportErrors, AbsurdDimsAreRefusedBeforeAllocating) {
  auto m = tiny_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  for (int i = 0; i < 4; ++i) w->add_dims(int64_t{1} << 20);
  std::string msg = import_error(bytes(m));
  EXPECT_NE(msg.find("absurd"), std::string::npos) << msg;
  w->clear_dims();
  w->add_dims(-4);
  EXPECT_NE(import_error(bytes(m)).find("negative"), std::string::npos);
}

TEST(ImportErrors, UnsupportedOpsAreAllListed) {
  auto m = tiny_model();
  for (const char* op : {"FancyOp", "OtherOp"}) {
    auto* n = m.mutable_graph()->add_node();
    n->set_name(std::string("node_") + op);
    n->set_op_type(op);
    n->add_input("y");
    n->add_output(std::string("out_") + op);
  }
  std::string msg = import_error(bytes(m));
  EXPECT_NE(msg.find("node 'node_FancyOp' (FancyOp)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'node_OtherOp' (OtherOp)"), std::string::npos) << msg;
  // octet's internal INT8 ops are not accepted from a file
  auto q = tiny_model();
  q.mutable_graph()->mutable_node(0)->set_op_type("QConv");
  EXPECT_NE(import_error(bytes(q)).find("QConv"), std::string::npos);
}

TEST(ImportErrors, DanglingNamesCyclesAndDuplicates) {
  auto m = tiny_model();
  m.mutable_graph()->mutable_node(0)->set_input(1, "nowhere");
  std::string msg = import_error(bytes(m));
  EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;

  auto c = tiny_model();
  auto* n2 = c.mutable_graph()->add_node();
  n2->set_name("loop");
  n2->set_op_type("Relu");
  n2->add_input("y");
  n2->add_output("z");
  c.mutable_graph()->mutable_node(0)->set_input(1, "z");  // add0 reads z, which needs y from add0
  msg = import_error(bytes(c));
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;

  auto d = tiny_model();
  auto* n3 = d.mutable_graph()->add_node();
  n3->set_name("again");
  n3->set_op_type("Relu");
  n3->add_input("x");
  n3->add_output("y");
  msg = import_error(bytes(d));
  EXPECT_NE(msg.find("'y'"), std::string::npos) << msg;
}

TEST(ImportErrors, MisShapedInputNamesInputAndShapes) {
  std::string b = bytes(tiny_model());
  ImportResult r = import_onnx_buffer(b.data(), b.size(), "tiny.onnx", ".");
  try {
    run_reference(r.graph, {Tensor(DType::f32, {2, 5})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("input 'x' expects Nx4, got 2x5"), std::string::npos) << msg;
  }
}

TEST(ImportErrors, ExternalDataIsReadAndChecked) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(testing::TempDir()) / "octet_extdata";
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "w.bin", std::ios::binary);
    float v[4] = {10, 20, 30, 40};
    f.write(reinterpret_cast<const char*>(v), sizeof v);
  }
  auto m = tiny_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  auto* kv = w->add_external_data();
  kv->set_key("location");
  kv->set_value("w.bin");
  std::string b = bytes(m);
  ImportResult r = import_onnx_buffer(b.data(), b.size(), "ext.onnx", dir.string());
  auto out = run_reference(r.graph, {Tensor::from<float>({1, 4}, {1, 1, 1, 1})});
  EXPECT_EQ(out[0].to_f32(), (std::vector<float>{11, 21, 31, 41}));
  // a file too short for the dims
  fs::resize_file(dir / "w.bin", 8);
  std::string msg = import_error(b, dir.string());
  EXPECT_NE(msg.find("w.bin"), std::string::npos) << msg;
  kv->set_value("missing.bin");
  msg = import_error(bytes(m), dir.string());
  EXPECT_NE(msg.find("cannot open external data"), std::string::npos) << msg;
  kv->set_value("../../etc/passwd");
  msg = import_error(bytes(m), dir.string());
  EXPECT_NE(msg.find("inside the model's folder"), std::string::npos) << msg;
}

TEST(ImportErrors, OldOpsetAttributesBecomeInputs) {
  // opset 11 Squeeze with an axes attribute runs like opset 13's axes input
  auto m = tiny_model(11);
  auto* g = m.mutable_graph();
  auto* n = g->add_node();
  n->set_name("unsq");
  n->set_op_type("Unsqueeze");
  n->add_input("y");
  n->add_output("u");
  auto* a = n->add_attribute();
  a->set_name("axes");
  a->set_type(onnx::AttributeProto_AttributeType_INTS);
  a->add_ints(1);
  g->mutable_output(0)->set_name("u");
  std::string b = bytes(m);
  ImportResult r = import_onnx_buffer(b.data(), b.size(), "old.onnx", ".");
  auto out = run_reference(r.graph, {Tensor::from<float>({1, 4}, {0, 0, 0, 0})});
  EXPECT_EQ(out[0].shape(), (Shape{1, 1, 4}));
}

// ---- issue 17: hostile sizes and external data ---------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

// A fresh model folder with a 64-byte weights.bin, and secret.bin beside it (outside the folder).
fs::path hostile_dir(const std::string& name) {
  fs::path root = fs::path(testing::TempDir()) / ("octet_hostile_" + name);
  fs::remove_all(root);
  fs::create_directories(root / "model");
  std::ofstream(root / "model" / "weights.bin", std::ios::binary) << std::string(64, '\x01');
  std::ofstream(root / "secret.bin", std::ios::binary) << std::string(64, '\x7f');
  return root;
}

std::string external_model(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto m = tiny_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  for (const auto& [k, v] : kv) {
    auto* e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  return bytes(m);
}

void expect_error_has(const std::string& msg, std::initializer_list<const char*> needles) {
  EXPECT_FALSE(msg.empty()) << "expected an error";
  for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
}

}  // namespace

TEST(ImportErrors, ExternalDataThroughSymlinkOutOfTheFolderIsRefused) {
  fs::path root = hostile_dir("symlink");
  fs::create_symlink(root / "secret.bin", root / "model" / "data.bin");
  fs::create_directory_symlink(root, root / "model" / "up");
  const std::string dir = (root / "model").string();
  expect_error_has(import_error(external_model({{"location", "data.bin"}}), dir),
                   {"bad.onnx", "initializer 'w'", "'data.bin'", "outside the model's folder"});
  expect_error_has(import_error(external_model({{"location", "up/secret.bin"}}), dir),
                   {"initializer 'w'", "'up/secret.bin'", "outside the model's folder"});
  // a link that stays inside is fine
  fs::create_symlink(root / "model" / "weights.bin", root / "model" / "inside.bin");
  EXPECT_EQ(import_error(external_model({{"location", "inside.bin"}}), dir), "");
}

TEST(ImportErrors, ExternalDataOffsetAndLengthAreStrictAndBounded) {
  fs::path root = hostile_dir("offset");
  const std::string dir = (root / "model").string();
  EXPECT_EQ(import_error(external_model({{"location", "weights.bin"}, {"offset", "48"}, {"length", "16"}}), dir), "");
  for (const char* bad : {"abc", "-16", "+16", " 16", "16 ", "0x10", "1e3", "", "99999999999999999999"})
    expect_error_has(import_error(external_model({{"location", "weights.bin"}, {"offset", bad}}), dir),
                     {"initializer 'w'", "'weights.bin'", "key 'offset'", "decimal"});
  expect_error_has(import_error(external_model({{"location", "weights.bin"}, {"length", "x"}}), dir),
                   {"initializer 'w'", "key 'length'"});
  // offset + length past the end, overflow-safe (near 2^63 loaded zeros before)
  for (const char* off : {"49", "64", "65", "9223372036854775800", "9223372036854775807"})
    expect_error_has(import_error(external_model({{"location", "weights.bin"}, {"offset", off}}), dir),
                     {"initializer 'w'", "'weights.bin'", "past the end"});
  expect_error_has(import_error(external_model({{"location", "weights.bin"}, {"length", "32"}}), dir),
                   {"initializer 'w'", "length 32"});
  // a folder is no data file
  fs::create_directories(root / "model" / "d.bin");
  expect_error_has(import_error(external_model({{"location", "d.bin"}}), dir), {"initializer 'w'", "directory"});
}

TEST(ImportErrors, InitializerDataIsCheckedBeforeAllocating) {
  // dims of 3 x 2^30 floats (12 GiB) with 4 values: the error comes without the allocation
  auto m = tiny_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  w->add_dims(3);
  w->add_dims(int64_t{1} << 30);
  expect_error_has(import_error(bytes(m)), {"initializer 'w'", "4 values", "need 3221225472"});
  w->clear_float_data();
  w->set_raw_data(std::string(16, '\0'));
  expect_error_has(import_error(bytes(m)), {"initializer 'w'", "need 3221225472"});
  // overflowing products
  w->clear_dims();
  for (int i = 0; i < 3; ++i) w->add_dims(int64_t{1} << 62);
  expect_error_has(import_error(bytes(m)), {"initializer 'w'", "absurd"});
}

TEST(RuntimeShapes, EmptyBatchRunsWithoutCrashingOnCpu) {
  // x [N, 4] MatMul w [4, 3]: oneDNN divided by zero (SIGFPE) for N = 0
  auto m = tiny_model();
  auto* g = m.mutable_graph();
  auto* w = g->mutable_initializer(0);
  w->clear_dims();
  w->clear_float_data();
  w->add_dims(4);
  w->add_dims(3);
  for (int i = 0; i < 12; ++i) w->add_float_data(1.f);
  g->mutable_node(0)->set_op_type("MatMul");
  std::string b = bytes(m);
  ImportResult r = import_onnx_buffer(b.data(), b.size(), "mm.onnx", ".");
  for (const char* backend : {"cpu", "ref"}) {
    PlanOptions opt;
    opt.backend = backend;
    auto plan = Plan::build(r.graph, opt);
    auto out = plan->run({Tensor(DType::f32, {0, 4})});
    EXPECT_EQ(out[0].shape(), (Shape{0, 3})) << backend;
    out = plan->run({Tensor::from<float>({1, 4}, {1, 1, 1, 1})});
    EXPECT_EQ(out[0].to_f32(), (std::vector<float>{4, 4, 4})) << backend;
  }
}

TEST(RuntimeShapes, OverflowingShapesAreRefusedNamingTheTensor) {
  // a fixed batch of 2^62: the byte size wrapped around to a tiny buffer before
  auto m = tiny_model();
  auto* g = m.mutable_graph();
  auto* shp = g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shp->mutable_dim(0)->set_dim_value(int64_t{1} << 62);
  shp->mutable_dim(1)->set_dim_value(3);
  g->clear_initializer();
  g->mutable_node(0)->set_op_type("Relu");
  g->mutable_node(0)->mutable_input()->RemoveLast();
  std::string b = bytes(m);
  ImportResult r = import_onnx_buffer(b.data(), b.size(), "huge.onnx", ".");
  auto plan = Plan::build(r.graph, PlanOptions{});
  try {
    plan->reshape(plan->input_shapes(1));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    expect_error_has(e.what(), {"input 'x'", "4611686018427387904x3"});
  }
  // an intermediate tensor: Expand [1, 4] to [2^62, 4]
  auto x = tiny_model();
  auto* xg = x.mutable_graph();
  auto* s = xg->mutable_initializer(0);
  s->set_name("shape");
  s->set_data_type(onnx::TensorProto::INT64);
  s->clear_float_data();
  s->clear_dims();
  s->add_dims(2);
  s->add_int64_data(int64_t{1} << 62);
  s->add_int64_data(4);
  xg->mutable_node(0)->set_op_type("Expand");
  xg->mutable_node(0)->set_input(1, "shape");
  b = bytes(x);
  r = import_onnx_buffer(b.data(), b.size(), "expand.onnx", ".");
  auto p2 = Plan::build(r.graph, PlanOptions{});
  try {
    p2->run({Tensor::from<float>({1, 4}, {1, 2, 3, 4})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    expect_error_has(e.what(), {"'y'", "4611686018427387904x4"});
  }
}
