// A minimal hls::stream for C simulation with g++ (hetflow fpga_hls backend).
//
// Vitis HLS brings its own hls_stream.h; this one is on the include path only when hetflow
// compiles a design with g++. It models a FIFO with no depth limit: C simulation runs the
// dataflow stages one after another, so a stage always finds the whole of its input written.
#ifndef HF_CSIM_HLS_STREAM_H_
#define HF_CSIM_HLS_STREAM_H_

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <typename T>
class stream {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  T read() {
    if (fifo_.empty()) {
      std::fprintf(stderr, "hls::stream '%s': read from an empty stream\n", name_.c_str());
      std::abort();
    }
    T value = fifo_.front();
    fifo_.pop_front();
    return value;
  }
  void read(T& value) { value = read(); }
  void write(const T& value) { fifo_.push_back(value); }
  bool empty() const { return fifo_.empty(); }
  bool full() const { return false; }
  unsigned size() const { return static_cast<unsigned>(fifo_.size()); }
  stream& operator>>(T& value) {
    value = read();
    return *this;
  }
  stream& operator<<(const T& value) {
    write(value);
    return *this;
  }

 private:
  std::string name_;
  std::deque<T> fifo_;
};

}  // namespace hls

#endif  // HF_CSIM_HLS_STREAM_H_
