/*
 *  sampling_monitor.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  Learning statistics of many small sampling networks, computed in the kernel from
 *  their spikes: spike counts, the overlaps of the neurons' active windows, and the
 *  counts of the sampled network states.
 */

#ifndef SALPYNN_SAMPLING_MONITOR_H
#define SALPYNN_SAMPLING_MONITOR_H

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "dict_util.h"
#include "event.h"
#include "exceptions.h"
#include "kernel_manager.h"
#include "nest_time.h"
#include "nest_types.h"
#include "node.h"

#include "salpynn_util.h"
#include "sampling_statistics.h"

/* BeginUserDocs: device, sampling

Short description
+++++++++++++++++

The learning statistics of many sampling networks, computed from their spikes

Description
+++++++++++

``sampling_monitor`` receives the spikes of ``replicas`` networks of ``n``
neurons each, with consecutive node ids from ``first_sender`` (network ``r``,
neuron ``k`` is node ``first_sender + r * n + k``), and keeps them until
``n_events`` is set to 0.  Reading its status computes, per network, from the
spikes kept:

- ``counts``: spikes per neuron, ``replicas * n`` values;
- ``overlap_first``: for every ordered pair ``(i, j)``, ``i != j``, the summed
  overlap (ms) of the active windows ``[t, t + tau)`` of the spike pairs in
  which ``i`` fired before ``j`` (two windows overlap for ``tau - |dt|`` when
  ``|dt| < tau``; spikes in the same step count half to each order), so
  ``overlap_first + its transpose`` is the total overlap; ``replicas * n * n``
  values, row-major ``[r][i][j]``;
- ``state_counts``: how often each of the ``2**n`` states was read at the
  times ``readout_start + m * tau / 2 < readout_stop``; neuron ``k`` is bit
  ``k`` of the state and is 1 at time ``t`` if it spiked in ``(t - tau, t]``;
  ``replicas * 2**n`` values.

All three are exact: spike times are whole steps, and overlaps are summed in
half-steps as integers.  The sampling experiment reads them once per phase
instead of reading every spike into Python (``salpynn.analysis.states``
computes the same from recorded spikes; the tests compare the two).

Parameters
++++++++++

==============  ======  ==========================================================
 n              int     Neurons per network (1 ... 16; default 1)
 replicas       int     Networks (>= 1; default 1)
 first_sender   int     Node id of neuron 0 of network 0 (>= 1; default 1)
 tau            ms      Window of the active state (> 0, multiple of the
                        resolution; default 10.0)
 readout_start  ms      First state read-out (a multiple of half the
                        resolution; default 0.0)
 readout_stop   ms      Read-outs are before this time (default 0.0: none)
 n_events       int     Spikes kept (read); setting 0 forgets them
==============  ======  ==========================================================

Changing ``n``, ``replicas`` or ``first_sender`` forgets the spikes kept.  A
spike from a node outside the networks is an error.

Like ``spike_recorder`` it is a device: it receives a spike when the spike is
sent (so a phase's statistics include every spike up to the kernel's time),
and each thread keeps its own neurons' spikes; reading merges them.  Under
MPI each rank reads its own neurons only.

Receives
++++++++

SpikeEvent

See also
++++++++

spike_recorder, sampling_neuron

EndUserDocs */

namespace salpynn
{

void register_sampling_monitor( const std::string& name );

class sampling_monitor : public nest::Node
{
public:
  sampling_monitor();
  sampling_monitor( const sampling_monitor& );

  using nest::Node::handle;
  using nest::Node::handles_test_event;

  size_t handles_test_event( nest::SpikeEvent&, size_t ) override;
  void handle( nest::SpikeEvent& ) override;

  void get_status( Dictionary& ) const override;
  void set_status( const Dictionary& ) override;

  //! A device: one instance per thread, and spikes arrive when they are sent.
  bool
  has_proxies() const override
  {
    return false;
  }

  bool
  local_receiver() const override
  {
    return true;
  }

private:
  void
  init_buffers_() override
  {
    clear_();
  }

  void
  pre_run_hook() override
  {
  }

  void
  update( nest::Time const&, const long, const long ) override
  {
  }

  void clear_();

  //! The network-local index r * n + k of a sender, or an exception naming the sender.
  long index_of_( size_t sender ) const;

  //! Every thread's spikes, per network, sorted by step.
  std::vector< std::vector< std::pair< long, long > > > merged_spikes_() const;

  using Spikes = std::vector< NetworkSpikes >;

  long n_;
  long replicas_;
  long first_sender_;
  StatisticsReadout readout_; //!< tau, the read-out span and the statistics

  //! Per network: (step, neuron) of every spike this thread's instance received.
  std::vector< std::vector< std::pair< long, long > > > spikes_;
  long generation_; //!< number of times the spikes were forgotten
};

inline sampling_monitor::sampling_monitor()
  : nest::Node()
  , n_( 1 )
  , replicas_( 1 )
  , first_sender_( 1 )
  , spikes_( 1 )
  , generation_( 0 )
{
}

inline sampling_monitor::sampling_monitor( const sampling_monitor& other )
  : nest::Node( other )
  , n_( other.n_ )
  , replicas_( other.replicas_ )
  , first_sender_( other.first_sender_ )
  , readout_( other.readout_ )
  , spikes_( other.replicas_ )
  , generation_( 0 )
{
}

inline void
sampling_monitor::clear_()
{
  spikes_.assign( static_cast< size_t >( replicas_ ), {} );
  ++generation_;
}

inline long
sampling_monitor::index_of_( size_t sender ) const
{
  const long index = static_cast< long >( sender ) - first_sender_;
  if ( index < 0 or index >= n_ * replicas_ )
  {
    throw nest::KernelException(
      "sampling_monitor: node " + std::to_string( sender ) + " is not one of its networks' neurons (node ids "
      + std::to_string( first_sender_ ) + " ... " + std::to_string( first_sender_ + n_ * replicas_ - 1 )
      + "; set first_sender, n and replicas)." );
  }
  return index;
}

inline size_t
sampling_monitor::handles_test_event( nest::SpikeEvent& e, size_t receptor_type )
{
  if ( receptor_type != 0 )
  {
    throw nest::UnknownReceptorType( receptor_type, get_name() );
  }
  index_of_( e.get_sender().get_node_id() ); // test events carry the sender, not its id
  return 0;
}

inline void
sampling_monitor::handle( nest::SpikeEvent& e )
{
  const long index = index_of_( e.retrieve_sender_node_id_from_source_table() );
  const long step = e.get_stamp().get_steps();
  auto& mine = spikes_[ static_cast< size_t >( index / n_ ) ];
  for ( long m = 0; m < e.get_multiplicity(); ++m )
  {
    mine.emplace_back( step, index % n_ );
  }
}

inline sampling_monitor::Spikes
sampling_monitor::merged_spikes_() const
{
  Spikes merged( static_cast< size_t >( replicas_ ) );
  const size_t threads = nest::kernel().vp_manager.get_num_threads();
  for ( size_t t = 0; t < threads; ++t )
  {
    const auto* sibling = dynamic_cast< const sampling_monitor* >(
      nest::kernel().node_manager.get_node_or_proxy( get_node_id(), t ) );
    if ( sibling == nullptr or sibling->spikes_.size() != merged.size() )
    {
      continue; // not created on this thread (cannot happen for a device), or not yet sized
    }
    for ( size_t r = 0; r < merged.size(); ++r )
    {
      merged[ r ].insert( merged[ r ].end(), sibling->spikes_[ r ].begin(), sibling->spikes_[ r ].end() );
    }
  }
  for ( auto& mine : merged )
  {
    // Threads append in turn, and a thread in the order its neurons spike.
    if ( not std::is_sorted( mine.begin(), mine.end() ) )
    {
      std::sort( mine.begin(), mine.end() );
    }
  }
  return merged;
}

inline void
sampling_monitor::get_status( Dictionary& d ) const
{
  d[ "n" ] = n_;
  d[ "replicas" ] = replicas_;
  d[ "first_sender" ] = first_sender_;
  size_t n_events = 0;
  const size_t threads = nest::kernel().vp_manager.get_num_threads();
  for ( size_t t = 0; t < threads; ++t )
  {
    const auto* sibling = dynamic_cast< const sampling_monitor* >(
      nest::kernel().node_manager.get_node_or_proxy( get_node_id(), t ) );
    if ( sibling == nullptr )
    {
      continue;
    }
    for ( const auto& mine : sibling->spikes_ )
    {
      n_events += mine.size();
    }
  }
  readout_.write( d, n_, n_events, generation_, [ this ]() { return merged_spikes_(); } );
}

inline void
sampling_monitor::set_status( const Dictionary& d )
{
  long n = n_;
  long replicas = replicas_;
  long first_sender = first_sender_;
  d.update_value( "n", n );
  d.update_value( "replicas", replicas );
  d.update_value( "first_sender", first_sender );
  const StatisticsReadout::Settings settings = readout_.read( d, "sampling_monitor" );

  if ( n < 1 or n > 16 )
  {
    throw nest::BadProperty(
      "sampling_monitor: n must be 1 ... 16 (2**n states are counted); got " + std::to_string( n ) + "." );
  }
  if ( replicas < 1 )
  {
    throw nest::BadProperty(
      "sampling_monitor: replicas must be >= 1; got " + std::to_string( replicas ) + "." );
  }
  if ( first_sender < 1 )
  {
    throw nest::BadProperty( "sampling_monitor: first_sender must be a node id (>= 1); got "
                             + std::to_string( first_sender ) + "." );
  }

  const bool layout_changed = n != n_ or replicas != replicas_ or first_sender != first_sender_;
  n_ = n;
  replicas_ = replicas;
  first_sender_ = first_sender;
  readout_.apply( settings );
  if ( settings.forget or layout_changed )
  {
    clear_();
  }
}

} // namespace salpynn

#endif // SALPYNN_SAMPLING_MONITOR_H
